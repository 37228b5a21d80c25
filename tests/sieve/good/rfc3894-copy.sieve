require ["copy", "fileinto"];
fileinto :copy "incoming";
redirect :copy "elsewhere@example.com";
