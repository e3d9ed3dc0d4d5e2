package dev.caravan.cluster;

import java.io.IOException;
import java.io.InputStream;

/** Lets a child process die with its parent: the parent holds our stdin; when it dies, stdin closes. */
public final class ParentWatch {
  private ParentWatch() {}

  public static void exitWhenStdinCloses() {
    Thread t = new Thread(() -> {
      InputStream in = System.in;
      try {
        while (in.read() >= 0) {
          // the parent writes nothing; wait for end of stream
        }
      } catch (IOException ignored) {
        // closed
      }
      Runtime.getRuntime().halt(143);
    }, "caravan-parent-watch");
    t.setDaemon(true);
    t.start();
  }
}
