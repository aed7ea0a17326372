"""The Qt-free core: data, models, training and (later) attacks, unit analysis and experiments."""
