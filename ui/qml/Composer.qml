import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Multi-line input: Enter sends, Shift+Enter adds a line, Ctrl+Enter also sends. Disabled, with
// the reason shown, while no model is loaded.
Rectangle {
    id: composer
    objectName: "composer"
    implicitHeight: column.implicitHeight + 16
    color: Theme.background

    function focusInput() { input.forceActiveFocus() }
    function send() {
        if (!Chat.ready || Chat.busy) return
        if (Chat.send(input.text)) input.text = ""
    }

    Rectangle { anchors.top: parent.top; width: parent.width; height: 1; color: Theme.border }

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 8
        spacing: 4

        Label {
            objectName: "blockedReason"
            Layout.fillWidth: true
            visible: !Chat.ready
            text: Chat.blockedReason
            wrapMode: Text.Wrap
            color: Theme.mutedText
        }

        RowLayout {
            Layout.fillWidth: true
            ScrollView {
                Layout.fillWidth: true
                Layout.preferredHeight: Math.min(Math.max(input.implicitHeight, 40), 160)
                TextArea {
                    id: input
                    objectName: "composerInput"
                    enabled: Chat.ready
                    wrapMode: TextEdit.Wrap
                    placeholderText: Chat.ready ? qsTr("Message the model (Enter sends, Shift+Enter new line)") : qsTr("Load a model to start")
                    Accessible.name: qsTr("Message")
                    Keys.onReturnPressed: (event) => {
                        if (event.modifiers & Qt.ShiftModifier) { event.accepted = false; return }
                        composer.send()
                    }
                    Keys.onEnterPressed: (event) => {
                        if (event.modifiers & Qt.ShiftModifier) { event.accepted = false; return }
                        composer.send()
                    }
                    Component.onCompleted: forceActiveFocus()
                }
            }
            Button {
                objectName: "sendButton"
                visible: !Chat.busy
                enabled: Chat.ready && input.text.trim().length > 0
                text: qsTr("Send")
                highlighted: true
                Accessible.name: qsTr("Send message (Enter or Ctrl+Enter)")
                onClicked: composer.send()
            }
            Button {
                objectName: "stopButton"
                visible: Chat.busy
                text: qsTr("Stop")
                Accessible.name: qsTr("Stop the reply (Esc)")
                onClicked: Chat.stop()
            }
        }
    }
}
