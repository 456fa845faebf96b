"""Kazakh date and number formats (Django ships none for kk; these follow the ru ones in use in Kazakhstan)."""

DATE_FORMAT = "Y ж. j E"
SHORT_DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = "Y ж. j E H:i"
SHORT_DATETIME_FORMAT = "d.m.Y H:i"
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%Y-%m-%d"]
FIRST_DAY_OF_WEEK = 1  # Monday
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "\xa0"  # non-breaking space
NUMBER_GROUPING = 3
