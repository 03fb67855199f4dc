from ostinato_tcp.cli import main

main()
