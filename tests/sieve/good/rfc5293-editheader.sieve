require ["editheader", "variables"];
if header :contains "X-Sieve-Filtered"
        ["<kim@job.example.com>", "<kim@home.example.com>"]
{
        #This message has already gone through my filters!
        stop;
}
addheader "X-Sieve-Filtered" "<kim@job.example.com>";
redirect "kim@home.example.com";
addheader :last "X-Processed" "yes";
deleteheader "X-Spam-Level";
deleteheader :index 1 :last "Received";
deleteheader :matches "Subject" "*SPAM*";
deleteheader :contains :comparator "i;octet" "X-Tag" ["a", "b"];
