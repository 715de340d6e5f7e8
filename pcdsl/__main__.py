from pcdsl.cli.main import entry

entry()
