"""``python -m modaline_cli``: the same as the ``modaline`` console script."""

from modaline_cli.main import main

main()
