# expect 3:14 encountered an unexpected tagged argument ':copy'
require ["fileinto", "copy"];
fileinto "x" :copy;
