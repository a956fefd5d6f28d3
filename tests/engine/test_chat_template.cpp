// Chat templates render exactly the strings the RWKV model families were trained on.
#include <QtTest>
#include <vector>

#include "ravel/chat_template.hpp"

using ravel::ChatMessage;
using ravel::ChatRole;
using ravel::ChatTemplate;
using ravel::ChatTemplateKind;

class TestChatTemplate : public QObject {
    Q_OBJECT

  private slots:
    void cleansMessages() {
        QCOMPARE(ravel::clean_message_text("  hi  "), std::string("hi"));
        QCOMPARE(ravel::clean_message_text("a\n\nb"), std::string("a\nb"));
        QCOMPARE(ravel::clean_message_text("a\r\n\r\n \n\tb\r\nc\n\n\n"), std::string("a\n\tb\nc"));
        QCOMPARE(ravel::clean_message_text("\n\n"), std::string());
        QCOMPARE(ravel::clean_message_text("  x\n  y"), std::string("x\n  y"));
    }

    void namesRoundTrip() {
        for (const char* n : {"world", "g1", "g1-think", "raven"}) {
            auto t = ChatTemplate::from_name(n);
            QVERIFY(t.has_value());
            QCOMPARE(std::string(t->name()), std::string(n));
        }
        QVERIFY(!ChatTemplate::from_name("chatml").has_value());
    }

    void worldRendersConversation() {
        const std::vector<ChatMessage> conv = {
            {ChatRole::System, "You are helpful."},
            {ChatRole::User, "Hi\n\nthere"},
            {ChatRole::Assistant, " Hello!"},
            {ChatRole::User, "How are you?"},
        };
        QCOMPARE(ChatTemplate(ChatTemplateKind::World).render(conv),
                 std::string("System: You are helpful.\n\nUser: Hi\nthere\n\nAssistant: Hello!"
                             "\n\nUser: How are you?\n\nAssistant:"));
        QCOMPARE(ChatTemplate(ChatTemplateKind::G1).render(conv),
                 ChatTemplate(ChatTemplateKind::World).render(conv));
        // A trimmed stored reply renders the same as the raw one.
        std::vector<ChatMessage> trimmed = conv;
        trimmed[2].text = "Hello!";
        QCOMPARE(ChatTemplate().render(trimmed), ChatTemplate().render(conv));
    }

    void thinkVariantOpensThinking() {
        const std::vector<ChatMessage> conv = {{ChatRole::User, "2+2?"}};
        QCOMPARE(ChatTemplate(ChatTemplateKind::G1Think).render(conv),
                 std::string("User: 2+2?\n\nAssistant: <think"));
        const std::vector<ChatMessage> two = {{ChatRole::User, "a"},
                                              {ChatRole::Assistant, ">\nhm</think>\nb"},
                                              {ChatRole::User, "c"}};
        QCOMPARE(ChatTemplate(ChatTemplateKind::G1Think).render(two),
                 std::string("User: a\n\nAssistant: <think>\nhm</think>\nb\n\nUser: c\n\n"
                             "Assistant: <think"));
    }

    void ravenUsesBobAndAlice() {
        const std::vector<ChatMessage> conv = {{ChatRole::System, "Alice is kind."},
                                               {ChatRole::User, "hello"},
                                               {ChatRole::Assistant, " hi"},
                                               {ChatRole::User, "bye"}};
        QCOMPARE(ChatTemplate(ChatTemplateKind::Raven).render(conv),
                 std::string("Alice is kind.\n\nBob: hello\n\nAlice: hi\n\nBob: bye\n\nAlice:"));
    }

    void incrementalTurnsMatchFullRender() {
        for (auto kind :
             {ChatTemplateKind::World, ChatTemplateKind::G1Think, ChatTemplateKind::Raven}) {
            ChatTemplate t(kind);
            // State after system + turn 1 + the reply and its "\n\n" stop, then turn 2.
            std::string fed = t.system_block("sys") + t.next_turn("one");
            const std::string reply = kind == ChatTemplateKind::G1Think ? ">x</think> r1" : " r1";
            fed += reply + "\n\n";
            fed += t.next_turn("two\n\n\nlines");
            const std::vector<ChatMessage> conv = {{ChatRole::System, "sys"},
                                                   {ChatRole::User, "one"},
                                                   {ChatRole::Assistant, reply},
                                                   {ChatRole::User, "two\nlines"}};
            QCOMPARE(fed, t.render(conv));
        }
        // A reply cut short (max tokens) gets the separator before the next turn.
        QCOMPARE(ChatTemplate().next_turn("q", /*after_separator=*/false),
                 std::string("\n\nUser: q\n\nAssistant:"));
        QCOMPARE(ChatTemplate().system_block("  \n "), std::string());
    }
};

QTEST_APPLESS_MAIN(TestChatTemplate)
#include "test_chat_template.moc"
