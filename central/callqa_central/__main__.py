from callqa_central.cli import main

raise SystemExit(main())
