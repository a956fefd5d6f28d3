import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The messages of the shown branch and the composer.
Item {
    id: view
    objectName: "chatView"

    function focusComposer() { composer.focusInput() }

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        ListView {
            id: messages
            objectName: "messageList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            clip: true
            spacing: 12
            topMargin: 16
            bottomMargin: 16
            model: Chat.messages
            Accessible.name: qsTr("Messages")
            ScrollBar.vertical: ScrollBar {}
            // Keep following a streamed reply unless the user scrolled up to read.
            property bool follow: true
            onMovementEnded: follow = atYEnd
            onContentHeightChanged: if (follow) positionViewAtEnd()
            onCountChanged: { follow = true; positionViewAtEnd() }

            delegate: MessageDelegate {
                width: ListView.view.width
            }

            Column {
                anchors.centerIn: parent
                width: Math.min(parent.width - 48, 520)
                spacing: 12
                visible: messages.count === 0
                Label {
                    width: parent.width
                    horizontalAlignment: Text.AlignHCenter
                    text: qsTr("Ravel")
                    font.pointSize: 22
                    font.bold: true
                    color: Theme.text
                }
                Label {
                    width: parent.width
                    horizontalAlignment: Text.AlignHCenter
                    wrapMode: Text.Wrap
                    color: Theme.mutedText
                    text: !Chat.ready ? Chat.blockedReason
                          : Models.demoModel ? qsTr("The demo model answers sums, unit conversions, days and months, and questions about RWKV and Ravel. Try “What is 2+3?”, “How many centimeters are in 7 meters?” or “What is RWKV?”.")
                          : qsTr("Ask anything. Each conversation keeps the model's state, so you can close it today and continue tomorrow instantly — or branch from any message.")
                }
            }
        }

        Composer {
            id: composer
            Layout.fillWidth: true
        }
    }
}
