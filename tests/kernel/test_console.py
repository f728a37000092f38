"""test_console.py - `jupyter console --kernel mgv` driven end to end with
pexpect: output, an Out[n] value, a loop, an error, a help page, state kept
between cells, the statement/expression rule and a trailing ';', %time,
input read by io.read (Ctrl-D there is its end), and exit
(which shuts the kernel down). The console's simple prompt takes one line
per cell. Prints PASS/FAIL (kernel_harness.run).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kernel_harness as H  # noqa: E402

H.install_kernelspec()

import pexpect  # noqa: E402


class ConsoleTests(unittest.TestCase):
    def test_console_session(self):
        env = dict(os.environ, TERM="dumb")
        c = pexpect.spawn("jupyter", ["console", "--kernel", "mgv", "--simple-prompt",
                                      "--ZMQTerminalInteractiveShell.confirm_exit=False",
                                      "--ZMQTerminalInteractiveShell.kernel_timeout=%d" % H.scaled(30)],
                          encoding="utf-8", timeout=H.scaled(30), env=env)
        try:
            c.expect(r"In \[1\]: ")
            c.sendline('print("hello from lua")')
            c.expect("hello from lua")
            c.expect(r"In \[2\]: ")
            c.sendline("x = 6 * 7")
            c.expect(r"In \[3\]: ")
            c.sendline("x")
            c.expect(r"Out\[3\]: 42")
            c.expect(r"In \[4\]: ")
            c.sendline("for i = 1, 2 do print(i * 10) end")
            c.expect("10")
            c.expect("20")
            c.expect(r"In \[5\]: ")
            c.sendline("error('bad thing')")
            c.expect("bad thing")
            c.expect(r"In \[6\]: ")
            c.sendline("?mgv.zeros")
            c.expect("A new tensor of zeros")
            c.expect(r"In \[7\]: ")
            # the REPL's rule: a statement, then an expression shown; `;` silences
            c.sendline("y = 2; y * 21")
            c.expect(r"Out\[7\]: 42")
            c.expect(r"In \[8\]: ")
            c.sendline("y;")
            c.expect(r"In \[9\]: ")
            c.sendline("return {y = y}")
            c.expect(r"Out\[9\]: \{y = 2\}")
            c.expect(r"In \[10\]: ")
            c.sendline("%time y + 1")
            c.expect(r"Wall time: [0-9.]+ (ns|µs|ms|s)")
            c.expect(r"Out\[10\]: 3")
            c.expect(r"In \[11\]: ")
            # io.read asks the console, which reads a line; Ctrl-D there is the end of input
            c.sendline("io.write('name? ') typed = io.read() return typed .. '!', io.read()")
            c.expect_exact("name? ")
            c.sendline("from the console")
            c.expect_exact("from the console")   # the echo of what was typed
            c.sendcontrol("d")
            c.expect(r"Out\[11\]: from the console!\tnil")
            c.expect(r"In \[12\]: ")
            c.sendline("exit()")
            c.expect(pexpect.EOF)
        finally:
            c.close(force=True)


if __name__ == "__main__":
    sys.exit(H.run(ConsoleTests))
