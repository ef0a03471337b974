"""What a page's phone call says, in the staff member's language (Twilio's `<Say language=…>`).

Spoken words are kept here rather than in the on-call page's gettext catalogs: six short
sentences per language, each naming nothing clinical (no client, no risk level): "a crisis
alert", the page's reply code and the keys to press.
"""

from dataclasses import dataclass

SAY_LANGUAGE = {"en": "en-US", "fr": "fr-FR", "ko": "ko-KR", "ru": "ru-RU"}


@dataclass(frozen=True)
class Words:
    prompt: str  # `{code}`: the reply code, spelled out character by character
    acknowledged: str
    not_acknowledged: str
    already: str
    unknown: str
    escalated: str  # key 3: the next level is paged now
    moved_on: str  # key 3 once the alert left the page's level, or has no further level


WORDS: dict[str, Words] = {
    "en": Words(
        prompt="This is your center's crisis on-call line. A crisis alert needs you."
        " Code {code}. Press 1 to acknowledge. Press 2 to hear this again. If you cannot take it,"
        " press 3 to escalate now.",
        acknowledged="Acknowledged. Escalation has stopped. Goodbye.",
        not_acknowledged="No key pressed. The alert is not acknowledged, and escalation goes"
        " on. Goodbye.",
        already="This alert was already acknowledged or resolved. Goodbye.",
        unknown="No open page matches this call. Goodbye.",
        escalated="Escalated. The next level is paged now. Goodbye.",
        moved_on="This alert has already moved on, or has no further level. Goodbye.",
    ),
    "fr": Words(
        prompt="Ici la ligne d'astreinte de crise de votre centre. Une alerte de crise vous"
        " attend. Code {code}. Appuyez sur 1 pour la prendre en charge. Appuyez sur 2 pour"
        " réécouter. Si vous ne pouvez pas la prendre, appuyez sur 3 pour escalader maintenant.",
        acknowledged="Alerte prise en charge. L'escalade est arrêtée. Au revoir.",
        not_acknowledged="Aucune touche. L'alerte n'est pas prise en charge et l'escalade"
        " continue. Au revoir.",
        already="Cette alerte est déjà prise en charge ou close. Au revoir.",
        unknown="Aucune alerte ouverte ne correspond à cet appel. Au revoir.",
        escalated="Alerte escaladée. Le niveau suivant est appelé maintenant. Au revoir.",
        moved_on="Cette alerte est déjà passée au niveau suivant, ou n'en a plus. Au revoir.",
    ),
    "ko": Words(
        prompt="센터의 위기 당직 전화입니다. 위기 알림이 있습니다. 코드 {code}."
        " 확인하려면 1번을 누르세요. 다시 들으려면 2번을 누르세요."
        " 받을 수 없으면 3번을 눌러 지금 에스컬레이션하세요.",
        acknowledged="확인되었습니다. 에스컬레이션이 중지되었습니다. 안녕히 계세요.",
        not_acknowledged="입력이 없습니다. 알림이 확인되지 않았으며 에스컬레이션이 계속됩니다."
        " 안녕히 계세요.",
        already="이 알림은 이미 확인되었거나 해결되었습니다. 안녕히 계세요.",
        unknown="이 전화에 해당하는 열린 호출이 없습니다. 안녕히 계세요.",
        escalated="에스컬레이션되었습니다. 지금 다음 단계를 호출합니다. 안녕히 계세요.",
        moved_on="이 알림은 이미 다음 단계로 넘어갔거나 더 이상 단계가 없습니다. 안녕히 계세요.",
    ),
    "ru": Words(
        prompt="Это кризисная дежурная линия вашего центра. Вас ждёт кризисное оповещение."  # noqa: RUF001
        " Код {code}. Нажмите 1, чтобы подтвердить. Нажмите 2, чтобы прослушать ещё раз."
        " Если не можете принять оповещение, нажмите 3, чтобы эскалировать сейчас.",
        acknowledged="Подтверждено. Эскалация остановлена. До свидания.",
        not_acknowledged="Клавиша не нажата. Оповещение не подтверждено, эскалация"
        " продолжается. До свидания.",
        already="Это оповещение уже подтверждено или закрыто. До свидания.",
        unknown="Этому звонку не соответствует ни одно открытое оповещение. До свидания.",
        escalated="Эскалировано. Следующий уровень вызывается сейчас. До свидания.",
        moved_on="Это оповещение уже перешло на следующий уровень или уровней больше нет."
        " До свидания.",
    ),
}


def spelled(code: str) -> str:
    """`1A2B3C` → `1 A 2 B 3 C`: a text-to-speech voice reads it character by character."""
    return " ".join(code)


def words_for(language: str) -> Words:
    return WORDS.get(language, WORDS["en"])
