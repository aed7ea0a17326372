"""Widgets shared by the window's tabs: probability views and the blind-spot triptych's panels."""
