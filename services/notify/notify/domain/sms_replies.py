# ruff: noqa: RUF001  (Russian text: its Cyrillic letters are meant)
"""What notify texts back to a client's reply (the provider sends the webhook's answer).

In the keyword's language (English for the shared keywords). `SMS_HELP_TEXT` replaces the
help answer in every language, for a center that wants its own words and contact in it.
"""

from counseling_shared.sms_keywords import Keyword

_REPLIES: dict[str, dict[Keyword | None, str]] = {
    "en": {
        Keyword.STOP: "You will get no more texts from this number. Reply START to get them again.",
        Keyword.START: "Texts from this number are on again. Reply STOP to stop them.",
        Keyword.HELP: "Messages from your counseling center. Reply STOP to stop texts, START"
        " to get them again. Replies are not read: contact your center. In an emergency, call"
        " your local emergency number.",
        None: "Replies to this number are not read: please contact your center. Reply HELP"
        " for help, STOP to stop texts.",
    },
    "fr": {
        Keyword.STOP: "Vous ne recevrez plus de SMS de ce numéro. Répondez DEMARRER pour les"
        " recevoir à nouveau.",
        Keyword.START: "Les SMS de ce numéro sont réactivés. Répondez ARRET pour les arrêter.",
        Keyword.HELP: "Messages de votre centre de consultation. Répondez ARRET pour ne plus"
        " recevoir de SMS, DEMARRER pour les recevoir à nouveau. Les réponses ne sont pas"
        " lues : contactez votre centre. En cas d'urgence, appelez le 112.",
        None: "Les réponses à ce numéro ne sont pas lues : contactez votre centre. Répondez"
        " AIDE pour de l'aide, ARRET pour ne plus recevoir de SMS.",
    },
    "ko": {
        Keyword.STOP: "이 번호에서 더 이상 문자를 보내지 않습니다. 다시 받으려면 시작이라고"
        " 답장하세요.",
        Keyword.START: "이 번호의 문자 수신이 다시 시작되었습니다. 중지하려면 중지라고 답장하세요.",
        Keyword.HELP: "상담 센터에서 보내는 메시지입니다. 문자 수신을 멈추려면 중지, 다시"
        " 받으려면 시작이라고 답장하세요. 답장은 읽지 않으니 센터로 연락하세요. 긴급 상황에는"
        " 119 또는 지역 긴급 번호로 전화하세요.",
        None: "이 번호로 보낸 답장은 읽지 않습니다. 센터로 직접 연락하세요. 도움말은 도움말,"
        " 수신 중지는 중지라고 답장하세요.",
    },
    "ru": {
        Keyword.STOP: "Вы больше не будете получать SMS с этого номера. Чтобы снова получать"
        " их, ответьте СТАРТ.",
        Keyword.START: "SMS с этого номера снова включены. Чтобы отключить, ответьте СТОП.",
        Keyword.HELP: "Сообщения вашего консультационного центра. Ответьте СТОП, чтобы"
        " отключить SMS, СТАРТ, чтобы включить снова. Ответы не читаются: свяжитесь с центром."
        " В экстренной ситуации звоните 112.",
        None: "Ответы на этот номер не читаются: свяжитесь с центром. Ответьте ПОМОЩЬ для"
        " справки, СТОП, чтобы отключить SMS.",
    },
}


def reply_to(keyword: Keyword | None, language: str, help_text: str | None = None) -> str:
    if keyword is Keyword.HELP and help_text:
        return help_text
    return _REPLIES.get(language, _REPLIES["en"])[keyword]
