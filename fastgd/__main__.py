"""``python -m fastgd`` runs the ``fastgd`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
