from saferollout.cli import main

main()
