"""An aiosmtpd handler for the notify tests: records every message it
accepts to a folder, one file per message (written atomically):
DIR/msg-NNNNNN.eml (the DATA as received) and DIR/msg-NNNNNN.json, written
after it, with the envelope and the message as Python's email parser reads
it: {"mail_from", "rcpt_tos", "from", "to", "subject", "body", "headers"}.

Start it with Debian's python3-aiosmtpd:
  PYTHONPATH=tests/support python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_recorder.Recorder DIR
"""
import email
import email.policy
import itertools
import json
import os


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class Recorder:
    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.counter = itertools.count(1)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("smtp_recorder.Recorder takes one argument: the folder to record to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        base = os.path.join(self.folder, "msg-%06d" % n)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        _write_atomic(base + ".eml", content)
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "from": str(parsed["From"] or ""),
            "to": str(parsed["To"] or ""),
            "subject": str(parsed["Subject"] or ""),
            "body": (parsed.get_content() if not parsed.is_multipart() else "").replace("\r\n", "\n"),
            "headers": {k: str(v) for k, v in parsed.items()},
        }
        _write_atomic(base + ".json", json.dumps(meta).encode("utf-8"))
        return "250 OK message recorded"
