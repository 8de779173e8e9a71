"""Minimal scripted SMTP responder on 127.0.0.1:2600 standing in for a remote MX.
Replies to RCPT TO by local part; exits after 120 s or 20 sessions."""
import socket, socketserver, threading, time

REPLIES = {
    "nosuch": b"550 5.1.1 <nosuch@remote.test>: Recipient address rejected: User unknown in virtual mailbox table",
    "full": b"552 5.2.2 <full@remote.test>: Mailbox full, quota exceeded",
    "blocked": b"550 5.7.1 Service unavailable; client [127.0.0.1] blocked using a local policy list",
}
sessions = 0

class H(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line + b"\r\n"); self.wfile.flush()
    def handle(self):
        global sessions
        sessions += 1
        self.send(b"220 mx.remote.test ESMTP")
        indata = False
        while True:
            line = self.rfile.readline()
            if not line:
                return
            if indata:
                if line == b".\r\n":
                    indata = False
                    self.send(b"250 2.0.0 Ok: queued")
                continue
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                self.wfile.write(b"250-mx.remote.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"); self.wfile.flush()
            elif cmd.startswith(b"HELO"):
                self.send(b"250 mx.remote.test")
            elif cmd.startswith(b"MAIL"):
                self.send(b"250 2.1.0 Ok")
            elif cmd.startswith(b"RCPT"):
                addr = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                local = addr.split("@")[0].lower()
                self.send(REPLIES.get(local, b"250 2.1.5 Ok"))
            elif cmd == b"DATA":
                self.send(b"354 End data with <CR><LF>.<CR><LF>"); indata = True
            elif cmd == b"RSET":
                self.send(b"250 2.0.0 Ok")
            elif cmd == b"QUIT":
                self.send(b"221 2.0.0 Bye"); return
            else:
                self.send(b"502 5.5.2 Error: command not recognized")

class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

srv = S(("127.0.0.1", 2600), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
t0 = time.time()
while time.time() - t0 < 120 and sessions < 20:
    time.sleep(0.5)
srv.shutdown()
