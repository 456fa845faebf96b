"""Month names as Kazakh dates use them (``E`` in ``DATE_FORMAT``: "2026 ж. 29 қараша").

Django's Kazakh catalogue has no "alt. month" forms, so ``E`` fell back to the capitalised
names of the calendar ("Қараша"). These msgids put the forms Kazakh writes in a date into
Kelisim's catalogue (locale/kk; the Russian ones repeat Django's genitive forms). Nothing
imports this module: makemessages reads it.
"""

from django.utils.translation import pgettext_lazy

ALT_MONTHS = (
    pgettext_lazy("alt. month", "January"),
    pgettext_lazy("alt. month", "February"),
    pgettext_lazy("alt. month", "March"),
    pgettext_lazy("alt. month", "April"),
    pgettext_lazy("alt. month", "May"),
    pgettext_lazy("alt. month", "June"),
    pgettext_lazy("alt. month", "July"),
    pgettext_lazy("alt. month", "August"),
    pgettext_lazy("alt. month", "September"),
    pgettext_lazy("alt. month", "October"),
    pgettext_lazy("alt. month", "November"),
    pgettext_lazy("alt. month", "December"),
)
