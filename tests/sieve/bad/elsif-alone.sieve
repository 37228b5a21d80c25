# expect 2:1 the elsif command must follow an if or elsif command
elsif true { keep; }
