from streamify.cli import main

main()
