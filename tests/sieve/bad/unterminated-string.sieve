# expect 2:10 unterminated string
fileinto "INBOX;
