"""What the user is looking at, Qt-free: the state the window renders and sends requests to."""
