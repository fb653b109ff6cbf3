"""What every entry-point script shares: run an absl main, turning our errors into messages.

A user's mistake (a bad flag value, a missing file, a config that does not fit) is reported as
one clear line on stderr with exit status 2, not as a traceback.
"""

import sys

from absl import app

from bert_tf.errors import UserError

USER_ERRORS = (UserError, FileNotFoundError)


def run_main(main):
    def guarded(argv):
        try:
            return main(argv)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
    app.run(guarded)
