from runyard_server.cli import main

main()
