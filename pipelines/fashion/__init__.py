"""Fashion: design specs, technical flats, prints, palettes, collections and diffusion looks."""
