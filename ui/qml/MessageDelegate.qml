import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// One message: Markdown prose and code blocks, and its actions (copy, edit, regenerate,
// ‹ n/m › between sibling branches).
Item {
    id: root
    objectName: "message_" + index
    required property int index
    required property var messageId
    required property string role
    required property string text
    required property var segments
    required property int siblingIndex
    required property int siblingCount
    required property bool streaming

    readonly property bool isUser: role === "user"
    readonly property bool isReply: role === "assistant"
    readonly property string speaker: isUser ? qsTr("You") : isReply ? qsTr("Assistant") : qsTr("System")
    property bool editing: false

    implicitHeight: bubble.height

    Rectangle {
        id: bubble
        x: root.isUser ? root.width - width - 16 : 16
        width: root.isUser ? Math.min(root.width * 0.75, Math.max(content.implicitWidth, 260) + 24)
                           : root.width - 32
        height: content.implicitHeight + 20
        radius: 10
        color: root.isUser ? Theme.userBubble : Theme.assistantBubble
        Accessible.role: Accessible.StaticText
        Accessible.name: root.speaker + ": " + root.text

        ColumnLayout {
            id: content
            x: 12
            y: 10
            width: bubble.width - 24
            spacing: 6

            Label {
                text: root.speaker
                font.bold: true
                font.pointSize: 9
                color: Theme.mutedText
            }

            Repeater {
                model: root.editing ? [] : root.segments
                delegate: Loader {
                    required property var modelData
                    Layout.fillWidth: true
                    sourceComponent: modelData.code ? codeBlock : prose
                    property var segment: modelData
                }
            }

            Label {
                visible: root.streaming && root.text.length === 0
                text: qsTr("Thinking…")
                color: Theme.mutedText
            }

            TextArea {
                id: editField
                objectName: "editField"
                visible: root.editing
                Layout.fillWidth: true
                wrapMode: TextEdit.Wrap
                Accessible.name: qsTr("Edit message")
                Keys.onReturnPressed: (event) => {
                    if (event.modifiers & Qt.ShiftModifier) { event.accepted = false; return }
                    saveEdit()
                }
                Keys.onEscapePressed: root.editing = false
                function saveEdit() {
                    if (Chat.editMessage(root.messageId, text)) root.editing = false
                }
            }
            RowLayout {
                visible: root.editing
                Button {
                    objectName: "saveEditButton"
                    enabled: !Chat.busy && Chat.ready && editField.text.trim().length > 0
                    text: qsTr("Send as new branch")
                    Accessible.name: qsTr("Send the edited message as a new branch")
                    onClicked: editField.saveEdit()
                }
                Button { text: qsTr("Cancel"); onClicked: root.editing = false }
            }

            RowLayout {
                spacing: 2
                visible: !root.streaming && !root.editing
                ToolButton {
                    objectName: "previousSibling"
                    visible: root.siblingCount > 1
                    text: "‹"
                    enabled: root.siblingIndex > 0 && !Chat.busy
                    Accessible.name: qsTr("Previous version")
                    onClicked: Chat.showSibling(root.messageId, -1)
                }
                Label {
                    objectName: "siblingLabel"
                    visible: root.siblingCount > 1
                    text: qsTr("%1/%2").arg(root.siblingIndex + 1).arg(root.siblingCount)
                    color: Theme.mutedText
                }
                ToolButton {
                    objectName: "nextSibling"
                    visible: root.siblingCount > 1
                    text: "›"
                    enabled: root.siblingIndex < root.siblingCount - 1 && !Chat.busy
                    Accessible.name: qsTr("Next version")
                    onClicked: Chat.showSibling(root.messageId, 1)
                }
                ToolButton {
                    objectName: "copyButton"
                    text: qsTr("Copy")
                    Accessible.name: qsTr("Copy message")
                    onClicked: Clipboard.setText(root.text)
                }
                ToolButton {
                    objectName: "editButton"
                    visible: root.isUser
                    enabled: !Chat.busy && Chat.ready
                    text: qsTr("Edit")
                    Accessible.name: qsTr("Edit this message (makes a new branch)")
                    onClicked: { editField.text = root.text; root.editing = true; editField.forceActiveFocus() }
                }
                ToolButton {
                    objectName: "regenerateButton"
                    visible: root.isReply
                    enabled: !Chat.busy && Chat.ready
                    text: qsTr("Regenerate")
                    Accessible.name: qsTr("Write another reply (makes a new branch)")
                    onClicked: Chat.regenerate(root.messageId)
                }
            }
        }
    }

    Component {
        id: prose
        TextEdit {
            // What a person typed is shown as typed; replies are Markdown (see
            // prose_for_markdown_view for what is done to them first).
            text: root.isUser ? segment.text : segment.markdown
            textFormat: root.isUser ? TextEdit.PlainText : TextEdit.MarkdownText
            wrapMode: TextEdit.Wrap
            readOnly: true
            selectByMouse: true
            color: Theme.text
            selectionColor: Theme.accent
            selectedTextColor: Theme.accentText
            onLinkActivated: (link) => Qt.openUrlExternally(link)
        }
    }

    Component {
        id: codeBlock
        Rectangle {
            implicitHeight: codeColumn.implicitHeight + 12
            radius: 6
            color: Theme.codeBackground
            border.color: Theme.border
            ColumnLayout {
                id: codeColumn
                x: 8
                y: 6
                width: parent.width - 16
                RowLayout {
                    Label {
                        Layout.fillWidth: true
                        text: segment.language.length > 0 ? segment.language : qsTr("code")
                        color: Theme.mutedText
                        font.pointSize: 8
                    }
                    ToolButton {
                        objectName: "copyCodeButton"
                        text: qsTr("Copy code")
                        font.pointSize: 8
                        Accessible.name: qsTr("Copy this code block")
                        onClicked: Clipboard.setText(segment.text)
                    }
                }
                TextEdit {
                    Layout.fillWidth: true
                    text: segment.text
                    readOnly: true
                    selectByMouse: true
                    wrapMode: TextEdit.WrapAnywhere
                    font.family: "monospace"
                    color: Theme.text
                    selectionColor: Theme.accent
                }
            }
        }
    }
}
