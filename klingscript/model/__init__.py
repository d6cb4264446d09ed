"""What klingc knows about Kling and the language: settings, model profiles and their limits,
languages, speech timing and image bounds."""
