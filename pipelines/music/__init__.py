"""Music: composition plans, a symbolic composer and DAW-ready bundles (MIDI, stems, master)."""
