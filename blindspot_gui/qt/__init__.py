"""The Qt front end: the main window and its panels, on top of the Qt-free core."""
