"""An agent program for tests: records every byte typed into its terminal, exactly.

The terminal is put in raw mode, so nothing is translated, echoed or interpreted; the
bytes go to $RECORD_TO (default ./received.bin) as they arrive.
"""

import os
import sys
import termios
import tty

path = os.environ.get("RECORD_TO", "received.bin")
fd = sys.stdin.fileno()
saved = termios.tcgetattr(fd)
tty.setraw(fd)
print("recorder ready", end="\r\n", flush=True)
try:
    with open(path, "ab", buffering=0) as out:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            out.write(data)
finally:
    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
