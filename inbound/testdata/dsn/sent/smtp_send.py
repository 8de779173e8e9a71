import smtplib, sys
# usage: smtp_send.py FILE MAILFROM RCPT [RCPT...] [--utf8]
args = [a for a in sys.argv[1:] if a != "--utf8"]
utf8 = "--utf8" in sys.argv
path, mfrom, rcpts = args[0], args[1], args[2:]
data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", 25, local_hostname="client.test") as s:
    s.set_debuglevel(1)
    opts = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
    print(s.sendmail(mfrom, rcpts, data, mail_options=opts))
