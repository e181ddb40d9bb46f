"""The generators: dialogue backends, and later fashion and music.

A pipeline takes typed inputs (messages, a brief, the persona's style profile, a seed)
and returns artifacts. It never reads memory stores and knows nothing about fans.
"""
