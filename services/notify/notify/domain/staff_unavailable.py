# ruff: noqa: RUF001  (Russian text: meant)
"""What notify texts back to a staff member when crisis did not answer their text, in the
staff member's language (their locale in booking's staff contacts; English when unknown).

An ACK, ESC or RES must never look as if it went through; a STOP or START is recorded by
notify all the same, but the escalation policy does not show it yet. Each language names its
own reply words (the ones the page's SMS names: `PRIS`, `확인`, `ПРИНЯТО`…); ESC, STOP and
START are read in English from everyone. A HELP or anything else has no text here: notify's
own answer stands."""

from counseling_shared.staff_replies import StaffCommand
from notify.domain.locales import FALLBACK_LANGUAGE, message_locale

TEXTS: dict[str, dict[StaffCommand, str]] = {
    "en": {
        StaffCommand.ACK: "NOT acknowledged: the crisis service did not answer. Text ACK and"
        " the code again in a minute, or use the link in the page.",
        StaffCommand.ESCALATE: "NOT escalated: the crisis service did not answer. Text ESC and"
        " the code again in a minute, or use the link in the page.",
        StaffCommand.RESOLVE: "NOT resolved: the crisis service did not answer. Text RES, the"
        " code and the outcome's digit again in a minute, or use the link in the page.",
        StaffCommand.STOP: "Texts to this phone are stopped, but the crisis service did not"
        " answer, so the escalation policy does not show it yet: text STOP again in a minute.",
        StaffCommand.START: "Texts to this phone are on again here, but the crisis service did"
        " not answer, so the escalation policy may still show them stopped: text START again"
        " in a minute.",
    },
    "fr": {
        StaffCommand.ACK: "PAS pris en charge : le service de crise n'a pas répondu. Renvoyez"
        " PRIS et le code dans une minute, ou utilisez le lien de l'appel.",
        StaffCommand.ESCALATE: "PAS escaladé : le service de crise n'a pas répondu. Renvoyez"
        " ESC et le code dans une minute, ou utilisez le lien de l'appel.",
        StaffCommand.RESOLVE: "PAS résolu : le service de crise n'a pas répondu. Renvoyez"
        " RÉSOLU, le code et le chiffre de l'issue dans une minute, ou utilisez le lien de"
        " l'appel.",
        StaffCommand.STOP: "Les SMS vers ce téléphone sont arrêtés, mais le service de crise"
        " n'a pas répondu : la politique d'escalade ne le montre pas encore. Renvoyez STOP"
        " dans une minute.",
        StaffCommand.START: "Les SMS vers ce téléphone sont rétablis ici, mais le service de"
        " crise n'a pas répondu : la politique d'escalade peut encore les montrer arrêtés."
        " Renvoyez START dans une minute.",
    },
    "ko": {
        StaffCommand.ACK: "확인되지 않았습니다: 위기 서비스가 응답하지 않았습니다. 1분 후 확인과"
        " 코드를 다시 보내거나 호출의 링크를 사용하세요.",
        StaffCommand.ESCALATE: "에스컬레이션되지 않았습니다: 위기 서비스가 응답하지 않았습니다."
        " 1분 후 ESC와 코드를 다시 보내거나 호출의 링크를 사용하세요.",
        StaffCommand.RESOLVE: "해결되지 않았습니다: 위기 서비스가 응답하지 않았습니다. 1분 후"
        " 해결, 코드, 결과 번호를 다시 보내거나 호출의 링크를 사용하세요.",
        StaffCommand.STOP: "이 전화로의 문자가 중지되었지만 위기 서비스가 응답하지 않아"
        " 에스컬레이션 정책에는 아직 표시되지 않습니다. 1분 후 STOP을 다시 보내세요.",
        StaffCommand.START: "이 전화로의 문자가 여기서 다시 켜졌지만 위기 서비스가 응답하지 않아"
        " 에스컬레이션 정책에는 아직 중지로 표시될 수 있습니다. 1분 후 START를 다시 보내세요.",
    },
    "ru": {
        StaffCommand.ACK: "НЕ принято: кризисная служба не ответила. Через минуту отправьте"
        " ПРИНЯТО и код ещё раз или воспользуйтесь ссылкой из вызова.",
        StaffCommand.ESCALATE: "НЕ эскалировано: кризисная служба не ответила. Через минуту"
        " отправьте ESC и код ещё раз или воспользуйтесь ссылкой из вызова.",
        StaffCommand.RESOLVE: "НЕ решено: кризисная служба не ответила. Через минуту отправьте"
        " РЕШЕНО, код и цифру исхода ещё раз или воспользуйтесь ссылкой из вызова.",
        StaffCommand.STOP: "SMS на этот телефон остановлены, но кризисная служба не ответила,"
        " и политика эскалации этого ещё не показывает: через минуту отправьте STOP ещё раз.",
        StaffCommand.START: "SMS на этот телефон здесь снова включены, но кризисная служба не"
        " ответила, и политика эскалации может ещё показывать их остановленными: через минуту"
        " отправьте START ещё раз.",
    },
}


def unavailable_text(command: StaffCommand, locale: str | None) -> str | None:
    """The answer in the locale's language (English when not written), None for a command
    without one (HELP, anything else)."""
    language = message_locale(locale).language
    return TEXTS.get(language, TEXTS[FALLBACK_LANGUAGE]).get(command)
