"""What every entry-point script shares: run an absl main, turning our errors into messages.

A user's mistake (a bad flag value, a missing file, a config that does not fit) is reported as
one clear line on stderr with exit status 2, not as a traceback.
"""

import sys

from absl import app

from bert_tf.errors import UserError

USER_ERRORS = (UserError, FileNotFoundError)


def _guarded(main):
    def guarded(argv):
        try:
            return main(argv)
        except USER_ERRORS as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
    return guarded


def run_main(main):
    """An absl script: flags parsed by absl, then `main(argv)`."""
    app.run(_guarded(main))


def run_argv(main):
    """A module command line that parses its own arguments (argparse): `main(sys.argv)`."""
    sys.exit(_guarded(main)(sys.argv))
