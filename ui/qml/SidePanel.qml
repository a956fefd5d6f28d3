import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The right-hand panel: the model, and the sampling settings of the current conversation.
Rectangle {
    id: panel
    color: Theme.surface
    property alias currentIndex: tabs.currentIndex

    ColumnLayout {
        anchors.fill: parent
        spacing: 0
        TabBar {
            id: tabs
            objectName: "panelTabs"
            Layout.fillWidth: true
            TabButton { text: qsTr("Model"); Accessible.name: qsTr("Model panel") }
            TabButton { text: qsTr("Sampling"); Accessible.name: qsTr("Sampling panel") }
        }
        StackLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            currentIndex: tabs.currentIndex
            ModelPanel {}
            SamplingPanel {}
        }
    }
}
