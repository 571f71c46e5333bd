from modellint.cli import main

main()
