import sys

try:
    from experiments.cli import main

    raise SystemExit(main())
except KeyboardInterrupt:  # before the command line took over (while importing)
    print("interrupted before anything was written.", file=sys.stderr)
    raise SystemExit(130) from None
