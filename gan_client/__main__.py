import sys

from gan_client.cli import main

sys.exit(main())
