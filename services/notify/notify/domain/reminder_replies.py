# ruff: noqa: RUF001  (the Cyrillic letters es and ha, and Russian text: meant)
"""A client's reply to an appointment reminder by text: `C` confirms, `X` cancels.

The whole message must be the word (case, surrounding spaces and final punctuation aside), as
for STOP: a sentence may mean anything. Besides C and X, each language notify writes in has
its words; Russian phones often type the Cyrillic letters es and ha, which look the same.
`CANCEL` is not among them: carriers treat it as STOP, and so does notify (`sms_keywords`),
which is why the reminder says X. The answers name the appointment's local date and time
(`{when}`) and the late-cancellation fee (`{fee}`).
"""

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from counseling_shared.reminder_replies import ReplyAction

LATE_REPEAT_WINDOW = timedelta(minutes=5)
"""How long after the fee was announced a second X cancels with it."""
LATE_REPEAT_EARLIEST = timedelta(seconds=30)
"""How soon after the fee was announced a second X may cancel with it. One sooner was sent
before the announcement could be read (X typed twice, or one X the carrier delivered twice):
it is answered with the fee again and the window keeps its start, so the next X cancels."""


def repeats_after_announcement(asked_at: datetime | None, now: datetime) -> bool:
    """Whether an X at `now` is the client's answer to the fee announced at `asked_at`."""
    return asked_at is not None and LATE_REPEAT_EARLIEST <= now - asked_at <= LATE_REPEAT_WINDOW


def too_soon_after_announcement(asked_at: datetime | None, now: datetime) -> bool:
    return asked_at is not None and timedelta(0) <= now - asked_at < LATE_REPEAT_EARLIEST


_WORDS: dict[ReplyAction, dict[str | None, tuple[str, ...]]] = {
    ReplyAction.CONFIRM: {
        None: ("c",),  # the reminder's language
        "en": ("confirm", "confirmed"),
        "fr": ("confirmer", "confirme", "je confirme"),
        "ko": ("확인",),
        "ru": ("с", "подтверждаю", "подтвердить"),
    },
    ReplyAction.CANCEL: {
        None: ("x",),
        "fr": ("annuler", "annule"),
        "ko": ("취소",),
        "ru": ("х", "отменить", "отмена"),
    },
}

_INDEX: dict[str, tuple[ReplyAction, str | None]] = {
    unicodedata.normalize("NFC", word).casefold(): (action, language)
    for action, languages in _WORDS.items()
    for language, words in languages.items()
    for word in words
}
_TRAILING = ".!?。,;:"


@dataclass(frozen=True)
class ReplyWord:
    action: ReplyAction
    language: str | None  # None: C or X, answered in the reminder's language


def parse_reply(text: str) -> ReplyWord | None:
    word = unicodedata.normalize("NFC", text).strip().rstrip(_TRAILING).strip().casefold()
    found = _INDEX.get(" ".join(word.split()))
    return ReplyWord(*found) if found else None


# The answers, by key: the outcomes booking gives (`ReplyOutcome`) and notify's own.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "confirmed": "Thank you: your appointment on {when} is confirmed.",
        "already_confirmed": "Your appointment on {when} was already confirmed. Thank you.",
        "cancelled": "Your appointment on {when} is cancelled.",
        "cancelled_fee": "Your appointment on {when} is cancelled. The late-cancellation fee"
        " of {fee} applies.",
        "late_needs_repeat": "Cancelling your appointment on {when} now is a late cancellation"
        " and the fee of {fee} applies. To cancel anyway, reply X again within 5 minutes.",
        "late_needs_repeat_free": "Cancelling your appointment on {when} now is a late"
        " cancellation. To cancel anyway, reply X again within 5 minutes.",
        "over": "Your appointment on {when} can no longer be changed by text: it has started"
        " or was cancelled. Please contact your center.",
        "moved": "This reminder is out of date: your appointment was moved to {when}. Please"
        " use the link in the message about the new time, or contact your center.",
        "no_reminder": "We found no reminder of an upcoming appointment sent to this number."
        " Please use the link in your reminder, or contact your center.",
        "shared_number": "This number gets reminders for more than one person, so we cannot"
        " tell which appointment your reply is about. Please use the link in your reminder, or"
        " contact your center.",
        "unavailable": "We could not act on your reply right now. Please try again later, or"
        " use the link in your reminder.",
    },
    "fr": {
        "confirmed": "Merci : votre rendez-vous du {when} est confirmé.",
        "already_confirmed": "Votre rendez-vous du {when} était déjà confirmé. Merci.",
        "cancelled": "Votre rendez-vous du {when} est annulé.",
        "cancelled_fee": "Votre rendez-vous du {when} est annulé. Les frais d'annulation"
        " tardive de {fee} s'appliquent.",
        "late_needs_repeat": "Annuler maintenant votre rendez-vous du {when} est une"
        " annulation tardive : des frais de {fee} s'appliquent. Pour annuler quand même,"
        " répondez X à nouveau dans les 5 minutes.",
        "late_needs_repeat_free": "Annuler maintenant votre rendez-vous du {when} est une"
        " annulation tardive. Pour annuler quand même, répondez X à nouveau dans les 5"
        " minutes.",
        "over": "Votre rendez-vous du {when} ne peut plus être modifié par SMS : il a commencé"
        " ou a été annulé. Contactez votre centre.",
        "moved": "Ce rappel n'est plus à jour : votre rendez-vous a été déplacé au {when}."
        " Utilisez le lien du message sur le nouvel horaire, ou contactez votre centre.",
        "no_reminder": "Aucun rappel de rendez-vous à venir n'a été envoyé à ce numéro."
        " Utilisez le lien de votre rappel, ou contactez votre centre.",
        "shared_number": "Ce numéro reçoit des rappels pour plus d'une personne : nous ne"
        " pouvons pas savoir de quel rendez-vous parle votre réponse. Utilisez le lien de votre"
        " rappel, ou contactez votre centre.",
        "unavailable": "Nous ne pouvons pas traiter votre réponse pour le moment. Réessayez"
        " plus tard, ou utilisez le lien de votre rappel.",
    },
    "ko": {
        "confirmed": "감사합니다. {when} 상담 예약이 확인되었습니다.",
        "already_confirmed": "{when} 상담 예약은 이미 확인되었습니다. 감사합니다.",
        "cancelled": "{when} 상담 예약이 취소되었습니다.",
        "cancelled_fee": "{when} 상담 예약이 취소되었습니다. 늦은 취소 수수료 {fee}이(가)"
        " 부과됩니다.",
        "late_needs_repeat": "지금 {when} 상담 예약을 취소하면 늦은 취소로 수수료 {fee}이(가)"
        " 부과됩니다. 그래도 취소하시려면 5분 안에 X로 다시 답장해 주세요.",
        "late_needs_repeat_free": "지금 {when} 상담 예약을 취소하면 늦은 취소가 됩니다. 그래도"
        " 취소하시려면 5분 안에 X로 다시 답장해 주세요.",
        "over": "{when} 상담 예약은 이미 시작되었거나 취소되어 문자로 변경할 수 없습니다. 센터로"
        " 연락해 주세요.",
        "moved": "이 알림은 지난 정보입니다. 예약이 {when}(으)로 변경되었습니다. 새 일정 안내"
        " 메시지의 링크를 이용하시거나 센터로 연락해 주세요.",
        "no_reminder": "이 번호로 보낸 다가오는 예약 알림을 찾지 못했습니다. 알림의 링크를"
        " 이용하시거나 센터로 연락해 주세요.",
        "shared_number": "이 번호로 두 분 이상의 예약 알림이 발송되어 어느 예약에 대한 답장인지"
        " 알 수 없습니다. 알림의 링크를 이용하시거나 센터로 연락해 주세요.",
        "unavailable": "지금은 답장을 처리할 수 없습니다. 잠시 후 다시 시도하시거나 알림의"
        " 링크를 이용해 주세요.",
    },
    "ru": {
        "confirmed": "Спасибо: ваша встреча {when} подтверждена.",
        "already_confirmed": "Ваша встреча {when} уже была подтверждена. Спасибо.",
        "cancelled": "Ваша встреча {when} отменена.",
        "cancelled_fee": "Ваша встреча {when} отменена. Взимается плата за позднюю отмену: {fee}.",
        "late_needs_repeat": "Отмена встречи {when} сейчас считается поздней: взимается плата"
        " {fee}. Чтобы всё равно отменить, ответьте X ещё раз в течение 5 минут.",
        "late_needs_repeat_free": "Отмена встречи {when} сейчас считается поздней. Чтобы всё"
        " равно отменить, ответьте X ещё раз в течение 5 минут.",
        "over": "Встречу {when} уже нельзя изменить по SMS: она началась или была отменена."
        " Свяжитесь с центром.",
        "moved": "Это напоминание устарело: ваша встреча перенесена на {when}. Воспользуйтесь"
        " ссылкой из сообщения о новом времени или свяжитесь с центром.",
        "no_reminder": "Мы не нашли напоминания о предстоящей встрече, отправленного на этот"
        " номер. Воспользуйтесь ссылкой из напоминания или свяжитесь с центром.",
        "shared_number": "На этот номер приходят напоминания для нескольких человек, и мы не"
        " можем понять, о какой встрече ваш ответ. Воспользуйтесь ссылкой из напоминания или"
        " свяжитесь с центром.",
        "unavailable": "Сейчас не удалось обработать ваш ответ. Попробуйте позже или"
        " воспользуйтесь ссылкой из напоминания.",
    },
}


def reply_text(key: str, language: str, *, when: str = "", fee: str = "") -> str:
    texts = TEXTS.get(language, TEXTS["en"])
    return texts[key].replace("{when}", when).replace("{fee}", fee)
