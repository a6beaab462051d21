from astra_token_operator.cli import main

raise SystemExit(main())
