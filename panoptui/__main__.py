from panoptui.cli import main

raise SystemExit(main())
