"""The check counter the Python black-box tests share: "got X, want Y" lines on failure and the
closing "N passed, N failed" line that CI reads. MAILSIFT_CHECKS_VERBOSE=1 also names each passed
check (to see that a section ran)."""
import os


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def __call__(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            if os.environ.get("MAILSIFT_CHECKS_VERBOSE"):
                print(f"ok {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")

    def summary(self):
        """Prints the closing line; returns the exit status (1 when anything failed)."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0
