import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Every failure is shown here with what to do; dismissing clears it.
Rectangle {
    id: banner
    objectName: "errorBanner"
    readonly property string message: Chat.errorMessage.length > 0 ? Chat.errorMessage : Models.errorMessage
    visible: message.length > 0
    implicitHeight: visible ? row.implicitHeight + 16 : 0
    color: Theme.errorBackground

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        spacing: 8
        Label {
            objectName: "errorText"
            Layout.fillWidth: true
            text: banner.message
            color: Theme.error
            wrapMode: Text.Wrap
            Accessible.role: Accessible.AlertMessage
        }
        Button {
            text: qsTr("Dismiss")
            Accessible.name: qsTr("Dismiss the error message")
            onClicked: { Chat.clearError(); Models.clearError() }
        }
    }
}
