"""Qt widgets only: windows, screens, dialogs and item models."""
