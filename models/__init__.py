"""Network definitions and the checkpoint format shared by training and the service."""
