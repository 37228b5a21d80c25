require "encoded-character";
if header :contains "Subject" "$${hex:24 24}" {
    discard;
}
if header :contains "Subject" "${unicode:40} ${unicode: 263a 1F600 }" {
    keep;
}
if header :is "X" "${hex:4142} stays as is" { keep; }
