"""The cooperation cycle of the 2017 Atameken-KIID memorandum, one Django app per stage."""
