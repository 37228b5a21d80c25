require ["date", "index", "relational"];
if date :value "gt" :index 1 :zone "-0500" "received"
        "iso8601" "2007-02-26T09:00:00-05:00" {
  stop;
}
if header :index 2 :last :contains "received" "example.net" { keep; }
if address :index 1 :is "from" "alice@example.com" { keep; }
