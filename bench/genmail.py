#!/usr/bin/env python3
"""genmail.py — write a benchmark Maildir for bench/run.sh.

Usage: genmail.py DIR COUNT [--folder NAME:COUNT ...] [--seed N] [--word WORD]

Writes COUNT messages into DIR/{cur,new} (INBOX) and each extra folder into
DIR/.NAME/ (Maildir++), the way an MDA would (tmp/ then rename), named
<time>.M<usec>P<pid>Q<seq>.bench,S=<size>,W=<crlf size>:2,<flags> with the Date as
mtime. Messages mix the shapes of a real mailbox: plain text (some quoted-printable or
base64), multipart/alternative, newsletters, attachments (base64, long-tailed sizes),
forwarded message/rfc822, multipart/related with inline images, multipart/signed;
headers with Received chains, DKIM signatures, RFC 2047 subjects and names, threads
(In-Reply-To/References). Output is deterministic for a seed. WORD (zanzibar) is put
into the text of every 97th message; the number of such messages per folder is
printed as "search <folder> <hits>" on stdout (the expected SEARCH BODY result).
Every 53rd message's Subject ends in "kilimanjaro" and every 89th is From
"Zebedee Quimby": "subject <folder> <n>" and "from <folder> <n>" are the expected
SEARCH SUBJECT "kilimanjaro" and SEARCH FROM "quimby" counts (neither word appears
in any other header; the marks draw no random numbers, so the rest is unchanged).
Runs as a benchmark helper only; it writes nothing outside DIR.
"""
import base64
import os
import random
import sys
import time

WORDS = """the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there one all we their been has when
who will more no if out so said what up its about into than them can only other new
some could time these two may then do first any my now such like our over man me even
most made after also did many before must through back years where much your way well
down should because each just those people how too little state good very make world
still own see men work long get here between both life being under never day same
another know while last might us great old year off come since against go came right
used take three meeting report budget quarter project review schedule invoice server
deploy release draft proposal contract customer support ticket update agenda minutes
deadline backup network storage mailbox folder message attachment calendar travel
hotel flight lunch dinner coffee weekend holiday birthday photos garden kitchen
bicycle train station museum concert library weather forecast rain sunny cloudy
café résumé naïve façade über straße señor años crème brûlée déjà vu""".split()

NAMES = ["Alice Martin", "Bob Keller", "Carla Gómez", "David Chen", "Eva Nowak",
         "François Dubois", "Grace Hopper", "Hiro Tanaka", "Ingrid Larsen",
         "Jürgen Weiß", "Kofi Mensah", "Lena Fischer", "Miguel Ortega", "Nadia Petrova",
         "Olivia Brown", "Pavel Novák", "Quentin Moreau", "Rosa Silva", "Sven Olsen",
         "Tomás Ruiz", "Ursula Klein", "Victor Hugo", "Wen Li", "Yusuf Demir", "Zoë Adams"]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com",
           "lists.example.org", "corp.example.net", "uni.example.edu"]
MAILERS = ["Mozilla Thunderbird 115.4.1", "Apple Mail (2.3731.700.6)",
           "Microsoft Outlook 16.0", "Roundcube Webmail/1.6.5", "Mutt/2.2.9", None]
SEARCH_EVERY = 97
SUBJECT_EVERY, SUBJECT_WORD = 53, "kilimanjaro"
FROM_EVERY, FROM_NAME, FROM_EMAIL = 89, "Zebedee Quimby", "zebedee.quimby@example.com"


def qp_encode(text):
    """Quoted-printable (RFC 2045 6.7) for UTF-8 text, soft line breaks at 76."""
    out = []
    for line in text.split("\n"):
        enc = ""
        for b in line.encode("utf-8"):
            c = chr(b)
            if b == 61 or b > 126 or (b < 32 and b != 9):
                enc += "=%02X" % b
            else:
                enc += c
        while len(enc) > 75:
            cut = 75
            while enc[cut - 1] == "=" or (cut >= 2 and enc[cut - 2] == "="):
                cut -= 1
            out.append(enc[:cut] + "=")
            enc = enc[cut:]
        out.append(enc)
    return "\n".join(out)


def b64_lines(data):
    s = base64.b64encode(data).decode("ascii")
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def encoded_word(text):
    try:
        text.encode("ascii")
        return text
    except UnicodeEncodeError:
        return "=?UTF-8?B?%s?=" % base64.b64encode(text.encode("utf-8")).decode("ascii")


class Gen:
    def __init__(self, seed, word):
        self.r = random.Random(seed)
        self.word = word
        r = self.r
        self.paras = []
        for _ in range(3000):
            sents = []
            for _ in range(r.randint(2, 7)):
                ws = [r.choice(WORDS) for _ in range(r.randint(6, 22))]
                ws[0] = ws[0].capitalize()
                sents.append(" ".join(ws) + r.choice([".", ".", ".", "?", "!"]))
            self.paras.append(self.wrap(" ".join(sents)))
        self.rand_block = r.randbytes(1 << 20)
        self.msgids = []

    @staticmethod
    def wrap(text, width=72):
        lines, cur = [], ""
        for w in text.split(" "):
            if cur and len(cur) + 1 + len(w) > width:
                lines.append(cur)
                cur = w
            else:
                cur = cur + " " + w if cur else w
        if cur:
            lines.append(cur)
        return "\n".join(lines)

    def text(self, size, hit):
        r = self.r
        out, n = [], 0
        while n < size:
            p = r.choice(self.paras)
            out.append(p)
            n += len(p) + 2
        if hit:
            i = r.randrange(len(out))
            out[i] = out[i] + "\nWe could meet in Zanzibar next spring, says " + \
                self.word + " travel."
        return "\n\n".join(out) + "\n"

    def html(self, size, hit):
        body = self.text(size, hit).split("\n\n")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>"
                "p{font-family:Arial,sans-serif;font-size:14px;color:#333}</style>"
                "</head>\n<body>\n" +
                "\n".join("<p>%s</p>" % p.replace("\n", " ") for p in body) +
                "\n</body></html>\n")

    def attachment(self, size):
        off = self.r.randrange(0, len(self.rand_block) - 1)
        data = (self.rand_block[off:] + self.rand_block)[:size]
        return b64_lines(data)

    def addr(self):
        r = self.r
        name = r.choice(NAMES)
        local = name.split()[0].lower().encode("ascii", "ignore").decode() or "user"
        return name, "%s.%d@%s" % (local, r.randint(1, 99), r.choice(DOMAINS))

    def fmt_addr(self, name, email):
        enc = encoded_word(name)
        if enc != name:
            return "%s <%s>" % (enc, email)
        return "\"%s\" <%s>" % (name, email)

    def boundary(self):
        return "----=_Part_%d_%d.%d" % (self.r.randint(1, 99999), self.r.randint(1, 1 << 30),
                                        self.r.randint(1, 1 << 40))

    def text_part(self, size, hit, ctype="text/plain"):
        """A text part with its headers; encodings as real mailers use them."""
        r = self.r
        body = self.text(size, hit) if ctype == "text/plain" else self.html(size, hit)
        enc = r.random()
        if enc < 0.55:
            return ("Content-Type: %s; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
                    % ctype) + body
        if enc < 0.9:
            return ("Content-Type: %s; charset=\"UTF-8\"\n"
                    "Content-Transfer-Encoding: quoted-printable\n\n" % ctype) + \
                qp_encode(body) + "\n"
        return ("Content-Type: %s; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
                % ctype) + b64_lines(body.encode("utf-8")) + "\n"

    def attach_part(self, size):
        r = self.r
        kind = r.choice([("application/pdf", "pdf"), ("image/jpeg", "jpg"),
                         ("image/png", "png"),
                         ("application/vnd.openxmlformats-officedocument."
                          "wordprocessingml.document", "docx"),
                         ("application/zip", "zip")])
        fname = "%s-%d.%s" % (r.choice(["report", "scan", "photo", "invoice", "slides",
                                        "Übersicht", "notes"]), r.randint(1, 999), kind[1])
        fenc = encoded_word(fname)
        return ("Content-Type: %s; name=\"%s\"\nContent-Disposition: attachment; "
                "filename=\"%s\"\nContent-Transfer-Encoding: base64\n\n" %
                (kind[0], fenc, fenc)) + self.attachment(size) + "\n"

    def multipart(self, sub, parts, extra=""):
        b = self.boundary()
        out = "Content-Type: multipart/%s;%s\n boundary=\"%s\"\n\n" % (sub, extra, b)
        out += "This is a multi-part message in MIME format.\n"
        for p in parts:
            out += "\n--%s\n%s" % (b, p)
        out += "\n--%s--\n" % b
        return out

    def att_size(self):
        # long-tailed: most attachments are small, a few are large
        return int(min(2_000_000, max(2_000, self.r.lognormvariate(10.6, 1.1))))

    def body(self, shape, hit):
        r = self.r
        small = lambda: int(max(200, r.lognormvariate(7.6, 0.8)))  # noqa: E731
        if shape == "plain":
            return self.text_part(small(), hit)
        if shape == "alternative":
            n = small()
            return self.multipart("alternative", [self.text_part(n, hit),
                                                  self.text_part(n, hit, "text/html")])
        if shape == "newsletter":
            n = int(r.uniform(8_000, 40_000))
            return self.multipart("alternative", [self.text_part(n // 3, hit),
                                                  self.text_part(n, hit, "text/html")])
        if shape == "attachment":
            return self.multipart("mixed", [self.text_part(small(), hit),
                                            self.attach_part(self.att_size())])
        if shape == "mixed-alt":
            n = small()
            alt = self.multipart("alternative", [self.text_part(n, hit),
                                                 self.text_part(n, hit, "text/html")])
            return self.multipart("mixed", [alt, self.attach_part(self.att_size()),
                                            self.attach_part(self.att_size() // 3)])
        if shape == "forward":
            inner = self.message(None, "plain", hit, inner=True)
            return self.multipart("mixed", [
                self.text_part(300, False),
                "Content-Type: message/rfc822\nContent-Disposition: inline\n\n" + inner])
        if shape == "related":
            n = small()
            html = self.text_part(n, hit, "text/html")
            imgs = ["Content-Type: image/png\nContent-ID: <img%d@bench>\n"
                    "Content-Transfer-Encoding: base64\n\n%s\n" %
                    (i, self.attachment(r.randint(2_000, 30_000))) for i in range(2)]
            rel = self.multipart("related", [html] + imgs, " type=\"text/html\";")
            return self.multipart("alternative", [self.text_part(n, hit),
                                                  rel.rstrip("\n") + "\n"])
        if shape == "signed":
            sig = ("Content-Type: application/pgp-signature; name=\"signature.asc\"\n\n"
                   "-----BEGIN PGP SIGNATURE-----\n\n" + self.attachment(400) +
                   "\n-----END PGP SIGNATURE-----\n")
            return self.multipart("signed", [self.text_part(small(), hit), sig],
                                  " micalg=pgp-sha256; protocol=\"application/pgp-signature\";")
        raise ValueError(shape)

    def message(self, t, shape, hit, inner=False, subj_mark=False, from_mark=False):
        r = self.r
        if t is None:
            t = 1_600_000_000 + r.randint(0, 10_000_000)
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
        fname, femail = self.addr()
        if from_mark:
            fname, femail = FROM_NAME, FROM_EMAIL
        h = []
        if not inner:
            h.append("Return-Path: <%s>" % femail)
            h.append("Delivered-To: bench@example.org")
            for i in range(r.randint(2, 6)):
                h.append("Received: from mx%d.%s (mx%d.%s [192.0.2.%d])\n\tby mail.example.org "
                         "(Postfix) with ESMTPS id %X\n\tfor <bench@example.org>; %s" %
                         (i, r.choice(DOMAINS), i, r.choice(DOMAINS), r.randint(1, 254),
                          r.getrandbits(40), date))
            if r.random() < 0.7:
                h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s1;\n"
                         "\th=from:to:subject:date:message-id:mime-version;\n\tbh=%s;\n\tb=%s" %
                         (r.choice(DOMAINS), base64.b64encode(r.randbytes(32)).decode(),
                          "\n\t ".join(base64.b64encode(r.randbytes(256)).decode()[i:i + 70]
                                       for i in range(0, 344, 70))))
                h.append("Authentication-Results: mail.example.org; dkim=pass; spf=pass "
                         "smtp.mailfrom=%s" % femail)
        h.append("From: " + self.fmt_addr(fname, femail))
        tos = [self.fmt_addr(*self.addr()) for _ in range(r.choice([1, 1, 1, 2, 3, 5]))]
        h.append("To: " + ",\n ".join(tos))
        if r.random() < 0.25:
            h.append("Cc: " + ",\n ".join(self.fmt_addr(*self.addr())
                                         for _ in range(r.randint(1, 3))))
        subj = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 9)))
        if r.random() < 0.15:
            subj = "quarterly report " + subj
        if subj_mark:
            subj = subj + " " + SUBJECT_WORD
        if self.msgids and r.random() < 0.3:
            parent = r.choice(self.msgids[-200:])
            subj = "Re: " + subj
            h.append("Subject: " + encoded_word(subj))
            h.append("In-Reply-To: " + parent)
            h.append("References: " + parent)
        else:
            h.append("Subject: " + encoded_word(subj))
        h.append("Date: " + date)
        mid = "<%x.%x@%s>" % (t, r.getrandbits(48), r.choice(DOMAINS))
        self.msgids.append(mid)
        h.append("Message-ID: " + mid)
        if shape == "newsletter":
            h.append("List-Id: Weekly news <news.lists.example.org>")
            h.append("List-Unsubscribe: <https://lists.example.org/u/%x>" % r.getrandbits(64))
        mailer = r.choice(MAILERS)
        if mailer:
            h.append("User-Agent: " + mailer)
        h.append("MIME-Version: 1.0")
        return "\n".join(h) + "\n" + self.body(shape, hit)

    def shape(self):
        x = self.r.random()
        for p, s in ((0.40, "plain"), (0.65, "alternative"), (0.75, "newsletter"),
                     (0.87, "attachment"), (0.92, "mixed-alt"), (0.96, "forward"),
                     (0.99, "related"), (1.01, "signed")):
            if x < p:
                return s
        return "plain"


def write_folder(g, path, count, t0, folder_id):
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    hits = subj_hits = from_hits = 0
    step = max(1, (int(time.time()) - 86400 - t0) // max(1, count))
    for i in range(count):
        t = t0 + i * step + g.r.randint(0, max(1, step - 1))
        hit = (i % SEARCH_EVERY) == SEARCH_EVERY // 2
        hits += hit
        subj_mark = (i % SUBJECT_EVERY) == SUBJECT_EVERY // 2
        from_mark = (i % FROM_EVERY) == FROM_EVERY // 3
        subj_hits += subj_mark
        from_hits += from_mark
        data = g.message(t, g.shape(), hit, subj_mark=subj_mark,
                         from_mark=from_mark).encode("utf-8")
        size = len(data)
        vsize = size + data.count(b"\n")
        base = "%d.M%dP%dQ%d.bench,S=%d,W=%d" % (t, g.r.randint(0, 999999), 4242 + folder_id,
                                                 i + 1, size, vsize)
        if i >= count - min(20, count // 10):
            dest = os.path.join(path, "new", base)
        else:
            x = g.r.random()
            flags = "S" if x < 0.80 else "FS" if x < 0.85 else "RS" if x < 0.90 else \
                "" if x < 0.99 else "ST"
            dest = os.path.join(path, "cur", base + ":2," + flags)
        tmp = os.path.join(path, "tmp", base)
        with open(tmp, "wb") as f:
            f.write(data)
        os.utime(tmp, (t, t))
        os.rename(tmp, dest)
    return hits, subj_hits, from_hits


def report(folder, counts):
    for what, n in zip(("search", "subject", "from"), counts):
        print("%s %s %d" % (what, folder, n))


def main():
    args = sys.argv[1:]
    seed, word, folders = 42, "zanzibar", []
    pos = []
    while args:
        a = args.pop(0)
        if a == "--seed":
            seed = int(args.pop(0))
        elif a == "--word":
            word = args.pop(0)
        elif a == "--folder":
            name, n = args.pop(0).rsplit(":", 1)
            folders.append((name, int(n)))
        else:
            pos.append(a)
    if len(pos) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    root, count = pos[0], int(pos[1])
    g = Gen(seed, word)
    t0 = 1_600_000_000
    report("INBOX", write_folder(g, root, count, t0, 0))
    for i, (name, n) in enumerate(folders):
        path = os.path.join(root, "." + name)
        report(name, write_folder(g, path, n, t0, i + 1))
        open(os.path.join(path, "maildirfolder"), "w").close()


if __name__ == "__main__":
    main()
